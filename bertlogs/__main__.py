from bertlogs.cli import main

main()
