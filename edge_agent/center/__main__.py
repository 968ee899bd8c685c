from edge_agent.center.cli import main

raise SystemExit(main())
