from watchbot.cli import main

main()
