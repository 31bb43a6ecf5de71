from datalabs.cli import main

main()
