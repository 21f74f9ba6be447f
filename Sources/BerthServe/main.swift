print("berth-serve: not built yet")
