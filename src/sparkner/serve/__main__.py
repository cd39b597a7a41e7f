from sparkner.cli.serve import main

raise SystemExit(main())
