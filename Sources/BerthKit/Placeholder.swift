// BerthKit
