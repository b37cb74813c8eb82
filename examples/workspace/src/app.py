print("hello from the demo workspace")
