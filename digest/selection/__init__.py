"""Selection: which new items each profile gets.

profiles.py reads the YAML rules, match.py runs every profile's terms over an
item in one pass, rank.py scores and orders one profile's matches.
"""
