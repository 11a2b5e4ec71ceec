from services.rehab.main import main

main()
