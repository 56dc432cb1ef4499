from mutualsense.cli import main

main()
