from bertlogs.cli import main

# the guard matters: analysis workers are spawned, and each one imports the main module again
if __name__ == "__main__":
    main()
