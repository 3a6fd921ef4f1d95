"""The signed-in home page and the sign-in/sign-out pages."""
