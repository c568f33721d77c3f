"""Anonymised figures for the scheme's evaluators (DESIGN.md §10).

`measures` defines each figure once, with the words shown beside it; `queries` counts them with
aggregate SQL per week; `disclosure` suppresses and rounds them; `report` puts the released
figures together for the page and the exports (`export`, `charts`).
"""
