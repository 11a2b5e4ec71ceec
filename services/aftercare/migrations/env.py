from lienthong.migrate import run_env

run_env()
