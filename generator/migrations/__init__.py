"""Scripts that copier.yml's ``_migrations`` run inside a project during ``copier update``.

They run with copier's own interpreter (``_copier_python``), so they use only the standard
library and PyYAML (a copier dependency). Each is idempotent and never overwrites a file.
"""
