from signalcraft_runtime.migrate import run_env

run_env()
