import CLinux
import Base

print("swiftlet")
