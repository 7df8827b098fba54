from trichat.cli import main

main()
