import os


def served_by(get_response):
    """Name the process that served each response (X-Served-By-Pid).

    Handy under a pre-fork server: the example's tests check that both gunicorn workers
    rendered pages with the host the master connected to before it forked them.
    """

    def middleware(request):
        response = get_response(request)
        response["X-Served-By-Pid"] = str(os.getpid())
        return response

    return middleware
