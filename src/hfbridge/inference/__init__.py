"""Framework-free inference services (chat, embeddings, text generation) shared by every adapter."""
