from pertitle.cli import main

main()
