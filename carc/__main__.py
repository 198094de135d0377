from carc.cli import main

raise SystemExit(main())
