import Foundation
import ServiceSupport

/// The files bundled with the intake executable: migrations, the OpenAPI document and the upload page.
package let intakeResources = ServiceResources(bundle: .module)
