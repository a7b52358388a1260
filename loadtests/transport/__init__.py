"""I/O for the dialects' steps: HTTP (geventhttpclient via Locust's FastHttpSession) and the two
real-time protocols (native WebSocket, Socket.IO). No timing, no judging here."""
