"""The Streamlit dashboard: ``streamlit run dashboard/app.py`` (or ``make run``).

One rule: **pages hold the widgets; views hold no Streamlit.**

* ``pages/<page>.py`` -- everything that draws or reads a widget (``st.*``), top to bottom, one file a page;
* ``dashboard/<page>_view.py`` -- that page's plain helpers: form values to a config, tables, plotly figures.
  No ``import streamlit``, so every helper is testable without a browser;
* ``dashboard/widgets.py`` -- the widgets more than one page uses: the job list with its controls, the device
  picker, form defaults in the session;
* ``dashboard/state.py`` -- session state shared by the pages (the loaded model, one-shot messages);
* ``dashboard/style.py``, ``dashboard/audio_plots.py`` -- shared plot styling and audio figures.

Long work never runs in a page: a page builds the job's config (``rrs.runs``, ``rrs.tuning.TuneConfig``, ...),
starts it with :class:`rrs.runs.Job` and then only reads its folder.
"""
