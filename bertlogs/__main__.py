"""`python -m bertlogs`, and the console script's entry point: the CLI is imported inside `main`, because the
analysis workers are spawned and each one runs the console script again (not `python -m`'s `__main__`), and they
need neither typer nor rich (~0.08 CPU-s a worker)."""


def main() -> None:
    from bertlogs.cli import main as run  # (see the docstring)

    run()


# the guard matters: each spawned worker imports this module again
if __name__ == "__main__":
    main()
