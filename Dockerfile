FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY backend backend
COPY locales locales
RUN pip install --no-cache-dir . && useradd --create-home musrenbot && mkdir /data \
    && chown musrenbot /data
USER musrenbot
ENV MUSRENBOT_MEDIA_DIR=/data/media
VOLUME /data
EXPOSE 8080
CMD ["musrenbot", "run", "--host", "0.0.0.0", "--port", "8080"]
