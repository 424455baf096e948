"""keyframe pose desktop app: views show state and emit intents; the pipeline runs on a worker thread.

Modules: `main` (entry point), `window` (main window), `session` (state between views and worker),
`worker` (the pipeline on a QThread), `channel` (the bounded worker -> GUI queue and its messages),
`track` (every pose of a run), `export` (CSV export off the GUI thread), `views` (video overlay, 3D
pose), `timeline` (seek bar, frame stepping, progress), `plots`, `readout`, `controls` (the pipeline
settings toolbar), `icons`; read before Qt loads: `args` (the command line), `system` (the system
libraries Qt's window needs).
"""
