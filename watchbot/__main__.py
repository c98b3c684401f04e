from watchbot.cli import main

if __name__ == "__main__":  # not when `spawn` imports it again in the web pages' process
    main()
