from p2pdb.cli import main

main()
