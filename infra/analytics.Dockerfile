# The AnalyticsFunction's image (infra/template.yaml, PackageType: Image). `sam build`
# builds it with Docker; the build context is the repository root (DockerContext: ..,
# trimmed to services/ without the operator's tooling by the root .dockerignore).
#
# Lambda's Python 3.12 base image for arm64 (the template's Architectures), every zip
# function's requirements plus DuckDB, pyarrow, scipy and threadpoolctl
# (services/requirements-analytics.txt: together past the 250 MB zip limit, far under the
# 10 GB image limit), and the same code folder the zip functions get (CodeUri ../services/).
FROM public.ecr.aws/lambda/python:3.12-arm64

COPY services/requirements.txt services/requirements-analytics.txt /tmp/requirements/
RUN pip install --no-cache-dir --target "${LAMBDA_TASK_ROOT}" \
        -r /tmp/requirements/requirements-analytics.txt \
    && rm -rf /tmp/requirements

COPY services/ ${LAMBDA_TASK_ROOT}/
# Bytecode in the image: a cold start does not compile DuckDB's, scipy's or our modules.
# Unchecked hashes, as in the zip functions (services/Makefile): used without a look at
# the sources' times.
RUN python -m compileall -q -f --invalidation-mode unchecked-hash "${LAMBDA_TASK_ROOT}"

# The template's ImageConfig.Command says the same; this is the image's own default.
CMD ["segmenter.entrypoints.analytics.handler"]
