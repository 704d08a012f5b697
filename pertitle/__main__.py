from pertitle.entry import main

main()
