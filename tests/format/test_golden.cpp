// golden files: added with the decrypt tool
