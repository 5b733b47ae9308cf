"""The financial-certificate cloud: a PIN-guarded keystore that signs for its users."""
