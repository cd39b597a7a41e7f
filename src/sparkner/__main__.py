from sparkner.cli.main import main

raise SystemExit(main())
