"""The kernel below every domain: who is acting (Actor), what each role may do (permissions) and
which patients a user may reach."""
