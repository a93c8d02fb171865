def write_csv(frame, out=None):
    return frame.to_csv(index=False).encode()
