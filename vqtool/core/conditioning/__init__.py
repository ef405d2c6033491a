"""Conditioning kinds, each one object of one interface, and the layout that holds them."""
