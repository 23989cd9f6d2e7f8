"""`llz plan`: run the program under the mock engine and render what it registers."""
