from services.health.main import main

main()
