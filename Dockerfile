# One image for every role: reference backend, Locust master (`loadbench run`) and workers.
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN python -m pip install --no-cache-dir -e . \
 && useradd --create-home loadbench && chown -R loadbench /app
USER loadbench
ENTRYPOINT ["loadbench"]
CMD ["--help"]
