from services.aftercare.main import main

main()
