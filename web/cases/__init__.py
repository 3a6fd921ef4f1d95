"""Cases: the case page, search by case or ID number, and batch import of electronic data packages."""
