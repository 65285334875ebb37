"""`dlkit serve`: the task predictors over HTTP, with a page to try them.

    from dlkit.serve.server import serve
    serve(tasks=("sentiment", "translate"), port=8000)          # blocks; Ctrl-C stops it

Modules: limits (ServeConfig: the limits and batching settings), models (which tasks are
served, loaded through their packages' public load), batching (concurrent requests
gathered into one model call), app (the FastAPI routes), server (loading and running),
static/index.html (the page), static/docs.html (the API's documentation, read from
/openapi.json). FastAPI and uvicorn are the optional extra `dlkit[serve]`; importing
this package needs neither, nor TensorFlow.
"""
