"""The A1111 (``/sdapi/v1``) and OpenAI (``/v1/images``) endpoints of ``if-cli serve``.

They map their clients' fields onto a ``GenerationRequest``, queue it with the native
jobs, and answer once every picture is made; docs/compatible-apis.md lists the mappings.
"""
