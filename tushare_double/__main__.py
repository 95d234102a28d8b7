"""Run the SYNTHETIC Tushare-compatible server: `python -m tushare_double --help`."""

import argparse
import json
import sys

from tushare_double.app import ServerConfig, make_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tushare-compatible server with SYNTHETIC data (loopback only).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--config", default="{}", help="ServerConfig fields as JSON")
    args = parser.parse_args(argv)
    server = make_server(ServerConfig(**json.loads(args.config)), args.host, args.port)
    host, port = server.server_address[:2]
    # The first line is machine-readable: launchers wait for it to learn the port.
    print(f"listening http://{host}:{port}/dataapi", flush=True)
    print(
        "SYNTHETIC DATA: this server invents deterministic sample data for tests and the offline demo. "
        "It is not market data.",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
