from carc.cli.main import main

raise SystemExit(main())
