"""The week's note: the final alerts of a week composed into one desk note (headline, sections, claims).

``section.py`` holds the sections and a rule's place in them (read by the rule model), ``compose.py`` the
note model and the composer, ``render.py`` Markdown, plain text and Slack Block Kit, ``notebook.py`` what
the worker runs after each hand-on: record the week's final alerts, compose, store, deliver.
"""
