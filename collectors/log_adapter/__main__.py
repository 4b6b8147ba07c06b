from collectors.log_adapter.cli import main

main()
