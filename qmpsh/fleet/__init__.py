"""``--all``: one input run on many targets at once, results tagged and tabled."""
